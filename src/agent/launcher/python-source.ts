/**
 * The step launcher, run as `python3 -I -S -c PYTHON_LAUNCHER`. It lives as
 * long as the agent and starts every step command with posix_spawn (vfork),
 * where Node's spawn forks the whole agent: ~0.7 ms of CPU less per command, once
 * its own ~13 ms start is paid (choose.ts NODE_FIRST).
 *
 * Agent → launcher on stdin: requests.ts. Launcher → agent on stdout: frames.ts.
 * It imports only built-in modules (json alone would double its start-up).
 *
 * It is a string, not a .py file, because the agent ships as a bundle with no side files.
 * Plain 3.8 syntax, and no backticks or dollar-braces: this is a raw template literal.
 */
export const PYTHON_LAUNCHER = String.raw`
import errno, os, select, struct, sys
try:
    import _signal as signal  # the same functions; the public module imports enum, a third of the start-up
except ImportError:
    import signal

if sys.version_info < (3, 8) or not hasattr(os, 'posix_spawn') or not hasattr(select, 'epoll'):
    sys.stderr.write('python %d.%d on %s cannot run the step launcher (it needs 3.8 or newer, on Linux)' % (sys.version_info[0], sys.version_info[1], sys.platform))
    sys.exit(3)
try:
    # setsid needs glibc 2.26 or newer: find out now rather than at the first step.
    os.posix_spawn('/nonexistent/fleet-launcher-probe', ['probe'], {}, setsid=True)
except NotImplementedError:
    sys.stderr.write('this python cannot start a process in its own session (posix_spawn setsid)')
    sys.exit(3)
except OSError:
    pass

U32 = struct.Struct('<I')
HEAD = struct.Struct('<cII')
EXIT = struct.Struct('<ii')
CHUNK = 65536
IN = select.EPOLLIN
OUT = select.EPOLLOUT

# Stopping steps is the agent's job (it kills their groups itself): a Ctrl-C or a signal
# to the agent's whole group must not end the launcher under running steps. It ends when
# its stdin does, that is when the agent has gone.
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
# Steps start with every signal at its default, as Node's spawn gives them (Python ignores SIGPIPE).
DEFAULTS = signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}

ep = select.epoll()
handlers = {}
closed = set()
out = []
children = {}

def watch(fd, events, handler):
    handlers[fd] = handler
    ep.register(fd, events)

def unwatch(fd):
    del handlers[fd]
    ep.unregister(fd)
    os.close(fd)
    # Its number may be reused by a spawn before the rest of this batch of events is handled.
    closed.add(fd)

def frame(kind, cid, payload=b''):
    out.append(HEAD.pack(kind, cid, len(payload)))
    out.append(payload)

def flush():
    if not out:
        return
    view = memoryview(b''.join(out))
    del out[:]
    try:
        while view:
            view = view[os.write(1, view):]
    except OSError:
        os._exit(0)

def which(name, path):
    # Like Node's spawn: searched on the PATH of the command's own environment.
    if b'/' in name:
        return name
    for d in (os.defpath.encode() if path is None else path).split(b':'):
        p = os.path.join(d or b'.', name)
        if os.access(p, os.X_OK) and not os.path.isdir(p):
            return p
    return None

class Child:
    __slots__ = ('id', 'pid', 'pipes', 'status', 'stdin', 'stdin_fd')

def finish(c):
    # The step ends when the process has exited and both its output pipes are closed, like Node's 'close'.
    if c.status is None or c.pipes:
        return
    del children[c.pid]
    if c.stdin_fd is not None:
        close_stdin(c)
    st = c.status
    frame(b'X', c.id, EXIT.pack(os.WEXITSTATUS(st) if os.WIFEXITED(st) else -1, os.WTERMSIG(st) if os.WIFSIGNALED(st) else 0))

def reader(c, kind):
    def read(fd):
        data = os.read(fd, CHUNK)
        if data:
            frame(kind, c.id, data)
            return
        unwatch(fd)
        c.pipes -= 1
        finish(c)
    return read

def close_stdin(c):
    unwatch(c.stdin_fd)
    c.stdin_fd = None

def writer(c):
    def write(fd):
        try:
            n = os.write(fd, c.stdin[:CHUNK])
        except BlockingIOError:
            return
        except OSError:
            n = len(c.stdin)
        c.stdin = c.stdin[n:]
        if not c.stdin:
            close_stdin(c)
    return write

def spawn(cid, argv, env, stdin):
    path = which(argv[0], env.get(b'PATH'))
    if path is None:
        frame(b'F', cid, b'ENOENT')
        return
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    theirs = [out_w, err_w]
    if stdin is None:
        in_w = None
        actions = [(os.POSIX_SPAWN_OPEN, 0, '/dev/null', os.O_RDONLY, 0)]
    else:
        in_r, in_w = os.pipe()
        theirs.append(in_r)
        actions = [(os.POSIX_SPAWN_DUP2, in_r, 0)]
    actions += [(os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
    try:
        pid = os.posix_spawn(path, argv, env, file_actions=actions, setsid=True, setsigdef=DEFAULTS, setsigmask=())
    except (OSError, ValueError) as e:
        for fd in [out_r, err_r] + ([] if in_w is None else [in_w]):
            os.close(fd)
        frame(b'F', cid, errno.errorcode.get(getattr(e, 'errno', None) or errno.EINVAL, 'EINVAL').encode())
        return
    finally:
        for fd in theirs:
            os.close(fd)
    c = Child()
    c.id, c.pid, c.pipes, c.status, c.stdin, c.stdin_fd = cid, pid, 2, None, memoryview(stdin or b''), in_w
    children[pid] = c
    frame(b'S', cid, U32.pack(pid))
    watch(out_r, IN, reader(c, b'O'))
    watch(err_r, IN, reader(c, b'E'))
    if in_w is not None:
        os.set_blocking(in_w, False)
        watch(in_w, OUT, writer(c))
        if not stdin:
            close_stdin(c)

def request(body):
    head = body.split(b'\0', 5)
    if head[0] == b'K':
        for pid in list(children):
            try:
                os.killpg(pid, int(head[1]))
            except OSError:
                pass
        return
    cid, argc, envc = int(head[1]), int(head[2]), int(head[3])
    rest = head[5].split(b'\0', argc + envc)
    env = dict(kv.partition(b'=')[::2] for kv in rest[argc:argc + envc])
    spawn(cid, rest[:argc], env, rest[-1] if head[4] == b'1' else None)

inbox = bytearray()

def from_agent(fd):
    data = os.read(fd, CHUNK)
    if not data:
        # The agent has gone. Its steps run in their own sessions, as they did under it.
        flush()
        os._exit(0)
    inbox.extend(data)
    at = 0
    while len(inbox) - at >= 4:
        n = U32.unpack_from(inbox, at)[0]
        if len(inbox) - at - 4 < n:
            break
        request(bytes(inbox[at + 4:at + 4 + n]))
        at += 4 + n
    del inbox[:at]

def reap():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        c = children.get(pid)
        if c is not None:
            c.status = status
            finish(c)

def woken(fd):
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
    reap()

wake_r, wake_w = os.pipe()
os.set_blocking(wake_r, False)
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGCHLD, lambda *_: None)
watch(wake_r, IN, woken)
watch(0, IN, from_agent)

frame(b'H', 0, U32.pack(os.getpid()))
flush()
while True:
    closed.clear()
    for fd, _ in ep.poll():
        if fd not in closed:
            handlers[fd](fd)
    flush()
`
