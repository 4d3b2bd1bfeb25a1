"""The pure billing domain: the Claim aggregate, its rules, commands and the ledger application."""
