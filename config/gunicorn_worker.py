"""gunicorn's threaded worker, woken alone for a new connection.

Every worker waits on the one listening socket in its own epoll set; Linux wakes all of them
for each new connection, one accepts it and the others go back to sleep, having taken a turn
on the cores that the request, PostgreSQL and the client were waiting for. With keep-alive
off (config/gunicorn.conf.py) that happens on every request. Registered with
``EPOLLEXCLUSIVE`` the socket wakes one waiting worker per connection (Linux 4.5+); elsewhere
this is gunicorn's worker unchanged.
"""

import select
import selectors

from gunicorn.workers.gthread import ThreadWorker


class ExclusiveAcceptThreadWorker(ThreadWorker):
    def set_accept_enabled(self, enabled: bool) -> None:
        was = self._accepting
        super().set_accept_enabled(enabled)
        exclusive = getattr(select, "EPOLLEXCLUSIVE", 0)
        if (
            not enabled
            or was
            or not exclusive
            or not isinstance(self.poller, selectors.EpollSelector)
        ):
            return
        # gunicorn registered the listeners with the selector; the flag can only be given
        # when a file descriptor is added to an epoll set, so they are added again with it.
        epoll = self.poller._selector
        for listener in self.sockets:
            epoll.unregister(listener.fileno())
            epoll.register(listener.fileno(), select.EPOLLIN | exclusive)
