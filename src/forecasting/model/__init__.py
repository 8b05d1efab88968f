"""The network, its seasonal base, the windows it reads and the requests it answers (ships in the Bento)."""
