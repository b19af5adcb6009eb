//! Packet builders (helper C).
