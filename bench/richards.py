"""richards-like scheduler: tasks, packets and queues as classes; attribute access, method calls and
polymorphic dispatch (object)."""
import sys

CATEGORY = "object"

IDLE, WORKER, HANDLER_A, HANDLER_B, DEVICE_A, DEVICE_B = range(6)


class Packet:
    def __init__(self, link, ident, kind):
        self.link, self.ident, self.kind, self.datum = link, ident, kind, 0
        self.data = [0] * 4

    def append_to(self, queue):
        self.link = None
        if queue is None:
            return self
        p = queue
        while p.link is not None:
            p = p.link
        p.link = self
        return queue


class Task:
    def __init__(self, sched, ident, prio, queue):
        self.sched, self.ident, self.prio, self.queue = sched, ident, prio, queue
        self.held = False
        self.waiting = queue is None
        self.runs = 0

    def ready(self):
        return not self.held and (not self.waiting or self.queue is not None)

    def take(self):
        p = self.queue
        self.queue = p.link
        self.waiting = False
        return p


class IdleTask(Task):
    def __init__(self, sched, ident, prio, count):
        super().__init__(sched, ident, prio, None)
        self.waiting = False
        self.control, self.count = 1, count

    def run(self, packet):
        self.count -= 1
        if self.count == 0:
            self.held = True
            return
        if self.control & 1 == 0:
            self.control >>= 1
            self.sched.release(DEVICE_A)
        else:
            self.control = (self.control >> 1) ^ 0xD008
            self.sched.release(DEVICE_B)


class WorkerTask(Task):
    def __init__(self, sched, ident, prio, queue):
        super().__init__(sched, ident, prio, queue)
        self.dest, self.count = HANDLER_A, 0

    def run(self, packet):
        if packet is None:
            self.waiting = True
            return
        self.dest = HANDLER_B if self.dest == HANDLER_A else HANDLER_A
        packet.ident = self.dest
        packet.datum = 0
        for i in range(4):
            self.count = self.count % 26 + 1
            packet.data[i] = self.count
        self.sched.queue_packet(packet)


class HandlerTask(Task):
    def __init__(self, sched, ident, prio, queue):
        super().__init__(sched, ident, prio, queue)
        self.work = self.devices = None

    def run(self, packet):
        if packet is not None:
            if packet.kind == 1:
                self.work = packet.append_to(self.work)
            else:
                self.devices = packet.append_to(self.devices)
        if self.work is not None:
            w = self.work
            if w.datum >= 4:
                self.work = w.link
                self.sched.queue_packet(w)
                return
            if self.devices is not None:
                d = self.devices
                self.devices = d.link
                d.datum = w.data[w.datum]
                w.datum += 1
                self.sched.queue_packet(d)
                return
        self.waiting = True


class DeviceTask(Task):
    def __init__(self, sched, ident, prio):
        super().__init__(sched, ident, prio, None)
        self.pending = None

    def run(self, packet):
        if packet is None:
            if self.pending is None:
                self.waiting = True
                return
            p, self.pending = self.pending, None
            self.sched.queue_packet(p)
        else:
            self.pending = packet
            self.sched.hold_count += 1
            self.held = True


class Scheduler:
    def __init__(self, count):
        self.hold_count = self.queue_count = 0
        self.tasks = [None] * 6
        wq = Packet(Packet(None, 0, 1), 0, 1)
        self.add(IdleTask(self, IDLE, 1, count))
        self.add(WorkerTask(self, WORKER, 1000, wq))
        qa = Packet(Packet(Packet(None, DEVICE_A, 0), DEVICE_A, 0), DEVICE_A, 0)
        self.add(HandlerTask(self, HANDLER_A, 2000, qa))
        qb = Packet(Packet(Packet(None, DEVICE_B, 0), DEVICE_B, 0), DEVICE_B, 0)
        self.add(HandlerTask(self, HANDLER_B, 3000, qb))
        self.add(DeviceTask(self, DEVICE_A, 4000))
        self.add(DeviceTask(self, DEVICE_B, 5000))
        self.order = sorted(self.tasks, key=lambda t: -t.prio)

    def add(self, task):
        self.tasks[task.ident] = task

    def release(self, ident):
        self.tasks[ident].held = False

    def queue_packet(self, packet):
        t = self.tasks[packet.ident]
        self.queue_count += 1
        packet.link = None
        packet.ident = IDLE
        t.queue = packet.append_to(t.queue)
        t.waiting = False

    def schedule(self):
        while True:
            for t in self.order:
                if t.ready():
                    t.runs += 1
                    t.run(t.take() if t.queue is not None else None)
                    break
            else:
                return


def main(scale):
    s = Scheduler(300000 * scale)
    s.schedule()
    print(s.queue_count, s.hold_count, [t.runs for t in s.tasks])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
