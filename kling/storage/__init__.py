"""File building blocks shared by every file-backed store (history, templates, videos).

`atomic` replaces a file whole, `locks` serialises writers across threads and processes,
`signature` tells cheaply whether a file changed, and `process` names the writing process
so that a later reader can tell whether it is still alive. None of them knows what the
files hold.
"""
