"""Analysis maths: first-order error, Hessian terms and the generalisation bound, speedup and agreement
measures (like with like), the evaluator rule (`selection`), paired intervals and verdicts (`verdicts`),
small statistics."""
