"""Helpline's Kafka port: the only package that imports a Kafka client (an import-linter contract
holds everyone else to it). `port` says what a producer, a consumer and the topic admin do;
`clients` builds them on a backend (`confluent`: librdkafka, the default; `kafka_python`), as
HELPLINE_KAFKA_CLIENT says; `options` names their settings; `reading` reads topics back."""
