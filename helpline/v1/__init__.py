"""Generated protobuf and gRPC code for proto/helpline/v1: do not edit; `make proto` regenerates it."""
