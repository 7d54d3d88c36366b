// Junction: see README.
