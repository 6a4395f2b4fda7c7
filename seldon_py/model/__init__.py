"""The user's side: the API a model class is written against (:mod:`.api`), importing and
constructing the class (:mod:`.loader`), and reflecting on it once (:mod:`.reflection`)."""
