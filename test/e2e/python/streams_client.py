"""The official Python client's pod streams against a k8ts cluster: exec in its plain form and
interactive (_preload_content=False) with the exit code from returncode, a tty, port-forward and logs
(attach speaks the same protocols, but k8ts's runc runtime does not attach yet). POD must run
`httpd -p 8080` serving index.html; TALKER prints `lineN` lines.
Usage: streams_client.py KUBECONFIG NS POD TALKER"""
import socket
import sys
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.stream import portforward, stream

kubeconfig, ns, pod, talker = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
config.load_kube_config(config_file=kubeconfig)
core = client.CoreV1Api()


def check(name, cond, detail=''):
    if not cond:
        raise AssertionError(f'{name}: {detail!r}')
    print(f'ok {name}')


# The plain form: everything the command wrote, as one string.
out = stream(core.connect_get_namespaced_pod_exec, pod, ns, command=['sh', '-c', 'echo out; echo err >&2'],
             stderr=True, stdin=False, stdout=True, tty=False)
check('exec, plain form', out in ('out\nerr\n', 'err\nout\n'), out)

# Interactive: stdin in, stdout and stderr apart, the exit code.
resp = stream(core.connect_get_namespaced_pod_exec, pod, ns, command=['sh', '-c', 'read x; echo got $x; echo oops >&2; exit 3'],
              stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
resp.write_stdin('abc\n')
resp.run_forever(timeout=20)
check('interactive stdout', resp.read_stdout() == 'got abc\n')
check('interactive stderr', resp.read_stderr() == 'oops\n')
check('returncode of a failing command', resp.returncode == 3, resp.returncode)

resp = stream(core.connect_get_namespaced_pod_exec, pod, ns, command=['true'], stderr=True, stdout=True, _preload_content=False)
resp.run_forever(timeout=20)
check('returncode 0', resp.returncode == 0, resp.returncode)

# Reading line by line while the command runs.
resp = stream(core.connect_get_namespaced_pod_exec, pod, ns, command=['sh', '-c', 'for i in 1 2 3; do echo line$i; sleep 0.1; done'],
              stderr=True, stdout=True, _preload_content=False)
lines = []
while resp.is_open() or resp.peek_stdout():
    resp.update(timeout=1)
    while resp.peek_stdout():
        lines += resp.read_stdout().splitlines()
check('output as it comes', lines == ['line1', 'line2', 'line3'], lines)

# A tty: one output stream, \r\n line ends.
resp = stream(core.connect_get_namespaced_pod_exec, pod, ns, command=['sh', '-c', 'tty >/dev/null && echo is-a-tty'],
              stderr=True, stdin=True, stdout=True, tty=True, _preload_content=False)
resp.run_forever(timeout=20)
check('tty', resp.read_stdout().strip() == 'is-a-tty')

# A command that does not exist: the error channel says so, the client raises or reports it.
resp = stream(core.connect_get_namespaced_pod_exec, pod, ns, command=['no-such-command'], stderr=True, stdout=True, _preload_content=False)
resp.run_forever(timeout=20)
err = resp.read_channel(3)
check('missing command reported on the error channel', 'no-such-command' in err or 'not found' in err, err)

# Errors before the upgrade are ApiExceptions (a container that does not exist).
try:
    stream(core.connect_get_namespaced_pod_exec, pod, ns, container='nope', command=['true'], stdout=True)
    check('exec into a missing container fails', False)
except ApiException as e:
    # 22.6 reports a refused upgrade as status 0 with the handshake's status line.
    check('exec into a missing container fails', e.status == 0 and 'Handshake status 400' in str(e), str(e))

# Port-forward: an HTTP request to the pod's port 8080 through the websocket.
pf = portforward(core.connect_get_namespaced_pod_portforward, pod, ns, ports='8080')
s = pf.socket(8080)
s.setblocking(True)
s.sendall(b'GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n')
data = b''
deadline = time.time() + 20
while time.time() < deadline:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
s.close()
check('port-forward answer', data.startswith(b'HTTP/1.') and b'hello-from-' in data, data[:200])
check('port-forward error channel quiet', pf.error(8080) is None, pf.error(8080))

# A port nothing listens on: the error channel carries the reason.
pf = portforward(core.connect_get_namespaced_pod_portforward, pod, ns, ports='9')
s = pf.socket(9)
s.setblocking(True)
s.settimeout(20)
try:
    while s.recv(65536):
        pass
except (socket.timeout, OSError):
    pass
deadline = time.time() + 20
while pf.error(9) is None and time.time() < deadline:
    time.sleep(0.1)
check('port-forward to a closed port reports it', pf.error(9) is not None and '9' in pf.error(9), pf.error(9))
# Logs: a tail, then following them line by line (Watch().stream sets follow=True for logs).
tail = core.read_namespaced_pod_log(talker, ns, tail_lines=2)
check('log tail_lines', len(tail.splitlines()) == 2 and all(x.startswith('line') for x in tail.splitlines()), tail)
followed = []
w = watch.Watch()
for line in w.stream(core.read_namespaced_pod_log, talker, ns, since_seconds=1):
    followed.append(line)
    if len(followed) == 3:
        w.stop()
nums = [int(x[4:]) for x in followed]
check('log follow yields new lines in order', len(nums) == 3 and nums == sorted(nums), followed)
print('PASS')
