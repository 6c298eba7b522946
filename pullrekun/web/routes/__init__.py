"""The dashboard's routers, one per resource; each route asks for who is asking
(:data:`pullrekun.web.context.Asker`) and reads the read model."""
