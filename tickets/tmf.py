"""Tickets in the vocabulary of TMF621 (placeholder: being written; see docs/tmf621.md)."""
