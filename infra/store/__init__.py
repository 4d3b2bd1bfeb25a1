"""The event store: recorders, transcoding, the claim cache and the retry of conflicting writes."""
