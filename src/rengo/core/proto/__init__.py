"""The generated protobuf / gRPC modules of rengo's wire format (``make proto`` rebuilds
them from ``rengo.proto``)."""
