"""Analysis maths: first-order error, Hessian terms and the generalisation bound, speedup and agreement
measures, small statistics."""
