"""Authorization: the domain model, the decision engine and the stores."""
