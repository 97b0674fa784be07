"""The in-process transport: requests go straight to a master's endpoint table, no sockets."""
from discolite.error import CommError
from discolite.transport import Transport


class LocalTransport(Transport):
    def __init__(self, master):
        self.master = master

    @classmethod
    def for_url(cls, url):
        from discolite.master import get_master
        master = get_master(url)
        if master is None:
            raise CommError("No in-process master at %s in this process (it was closed, or "
                            "belongs to another process)" % url, url)
        return cls(master)

    def handle(self, request):
        if self.master.closed:
            raise CommError("The in-process master at %s is closed" % self.master.url,
                            self.master.url)
        return self.master.app.handle(request)
