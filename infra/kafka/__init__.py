"""Kafka adapters: topics, the relay's publisher and reader process, and the consumers' runner and stores."""
