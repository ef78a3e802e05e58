"""pgxlib: PolicyGradEx, grouping reinforcement-learning tasks by gradient-estimated task affinity."""
__version__ = "0.1.0"
