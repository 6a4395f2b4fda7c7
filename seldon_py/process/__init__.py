"""The process tree: forking the serving processes and supervising them."""
