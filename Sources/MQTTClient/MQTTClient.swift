// MQTTClient: see README.
