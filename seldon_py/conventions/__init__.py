"""Model conventions of other servers, detected and adapted into Seldon-style user objects."""
