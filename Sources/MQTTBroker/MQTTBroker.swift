// MQTTBroker: see README.
