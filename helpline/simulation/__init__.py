"""`helpline simulate`: a contact centre run against a stack through its real interfaces."""
