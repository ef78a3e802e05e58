"""Reporting: one module per chapter's tables, figures and sentences, the paper's numbers and the
scorecard. It reads stored results and never imports training code."""
