"""X12 5010 feeds: reading files, mapping transactions to ledger commands, writing 837P."""
