"""Estimation maths on tensors: gradient features and their projector, the surrogate, the affinity.

No environment, file or plot is touched here."""
