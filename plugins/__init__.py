"""Built-in plugins: policies (heuristics, search) and, later, algorithms and matchmakers (installed as arena.plugins)."""
