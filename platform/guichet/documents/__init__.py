"""Supporting documents (pièces justificatives) in the citizen's secure storage."""
