// The node helper's program (perl-base; see helper.ts for why and for the protocol it speaks).
//
// Requests arrive on stdin and answers leave on stdout, each framed as pack('NN', id, length) followed by
// that many bytes of fields, each field pack('N/a*'). The first field of a request names the operation:
//   exec  TIMEOUT_MS CWD STDIN NENV ENV... ARGV...   fork + exec; NENV -1 keeps the helper's environment
//   netns-add NAME                                   /run/netns/NAME, a new network namespace bound there
//   netns-del NAME                                   unmount (detached) and remove /run/netns/NAME
//   mount SOURCE TARGET FSTYPE FLAGS DATA            mount(2); an empty SOURCE, FSTYPE or DATA is NULL
//   umount TARGET FLAGS                              umount2(2)
//   hold LOG ARGV...                                 start a program in a session of its own, stderr appended to
//                                                    LOG, its stdin and stdout held here for talk (the shim)
//   talk ID LINE                                     write LINE to the held program ID's stdin and close it;
//                                                    answered with what it prints up to its first newline
//   drop ID                                          close the held program's pipes (a spare shim then exits)
//   rtnl NETNS MSG...                                rtnetlink messages (built by src/agent/cni/rtnl.ts) sent in
//                                                    order, each acknowledged before the next, on a socket of the
//                                                    node's network namespace (NETNS empty) or of /run/netns/NAME;
//                                                    the first the kernel refuses ends the request
//   nfnl NETNS BATCH                                 one nf_tables batch (built by src/agent/proxy/nfnl.ts) sent
//                                                    whole on a NETLINK_NETFILTER socket of its own there: one
//                                                    transaction; done when each message asking for an
//                                                    acknowledgement has one
// An answer's fields: KIND VALUE STDOUT STDERR, where KIND is
//   exit    VALUE is the exit code
//   signal  VALUE is the signal that ended it
//   errno   it could not start: VALUE is errno and STDERR the message (exec's ENOENT: no such command)
//   error   the request was refused or its system call failed: STDERR says why
//   held    hold started the program: VALUE is its pid and the request's id names it from now on
//   nlerr   rtnl, nfnl: the kernel refused message number STDERR with errno VALUE (rtnl: the replies before it
//           in STDOUT; nfnl: -1 is the batch itself)
// rtnl's exit 0 carries in STDOUT every reply that was not an acknowledgement (what a GET asked for).
// Everything the helper forks is its own child, reaped by it; work for other requests goes on meanwhile.
// The helper exits when its stdin closes (its agent is gone); what it started runs on to its end.
export const HELPER_SCRIPT = String.raw`# k8ts node helper (written by the agent; see src/agent/helper.ts and helper-script.ts)
# Deliberately without 'use strict; use warnings' (start-up time); the tests compile it with both.
my ($NR_UNSHARE, $NR_MOUNT, $NR_UMOUNT2, $NR_CLOCK, $NR_EXIT, $NR_SETSID, $NR_SETNS) = map { $_ + 0 } split /,/, $ARGV[0];
my ($MS_BIND, $MS_REC, $MS_SHARED, $MNT_DETACH, $CLONE_NEWNET) = (4096, 16384, 1 << 20, 2, 0x40000000);
$0 = 'k8ts-helper';
$SIG{PIPE} = 'IGNORE';
binmode(STDIN);
binmode(STDOUT);

sub nonblock { my $fl = fcntl($_[0], 3, 0); fcntl($_[0], 4, $fl | 2048); }   # F_GETFL, F_SETFL, O_NONBLOCK
sub msecs {
  my $ts = pack('q2', 0, 0);
  syscall($NR_CLOCK, 1, $ts) == 0 or die "clock_gettime: $!\n";
  my ($s, $n) = unpack('q2', $ts);
  return $s * 1000 + $n / 1e6;
}
# _exit(2): out of a child now, without perl's END blocks or buffers (they belong to the helper).
sub quit { syscall($NR_EXIT, $_[0] + 0); }
sub errtext { local $! = $_[0]; return "$!"; }
# syscall() hands the kernel pointers into its string arguments, so they must be writable: copies, not literals.
sub sc { my ($nr, @a) = @_; return syscall($nr, @a); }

# The node's network namespace, to come back to after making a pod's (netns-add).
open(my $node_netns, '<', '/proc/self/ns/net') or die "/proc/self/ns/net: $!\n";
pipe(my $wake_r, my $wake_w) or die "pipe: $!\n";
nonblock($wake_r);
nonblock($wake_w);
$SIG{CHLD} = sub { syswrite($wake_w, 'x'); };

my %jobs;     # pid => job: { id, pid, out, err, ex (exec's errno), in, inoff, open (pipes), status, deadline }
my %readers;  # fileno => [job, which ('out', 'err', 'exec'), handle]
my %writers;  # fileno => [job, handle]
my %held;     # request id => [pid, stdin handle, stdout handle]
my %talks;    # fileno => [request id, handle, what came]
my $inbuf = '';
my $netns_ready = 0;

sub answer {
  my ($id, @fields) = @_;
  my $body = pack('(N/a*)*', @fields);
  my $msg = pack('NN', $id, length($body)) . $body;
  while (length($msg)) {
    my $n = syswrite(STDOUT, $msg);
    if (!defined($n)) { next if $!{EINTR} || $!{EAGAIN}; exit(0); }
    substr($msg, 0, $n) = '';
  }
}
sub refuse { answer($_[0], 'error', 0, '', $_[1]); }

# A child whose stdout and stderr come back to this process; $body runs in the child and does not return.
sub start {
  my ($id, $input, $timeout, $body) = @_;
  my ($inr, $inw, $outr, $outw, $errr, $errw, $exr, $exw);
  unless (pipe($inr, $inw) && pipe($outr, $outw) && pipe($errr, $errw) && pipe($exr, $exw)) { refuse($id, "pipe: $!"); return; }
  my $pid = fork();
  if (!defined($pid)) { answer($id, 'errno', $! + 0, '', "fork: $!"); return; }
  if ($pid == 0) {
    $SIG{PIPE} = 'DEFAULT';
    $SIG{CHLD} = 'DEFAULT';
    open(STDIN, '<&', $inr);
    open(STDOUT, '>&', $outw);
    open(STDERR, '>&', $errw);
    $body->($exw);
    quit(127);
  }
  close($inr);
  close($outw);
  close($errw);
  close($exw);
  # Wait, touching nothing, until the child has exec'd (its end of this pipe closes then) or written why it
  # could not: until then it shares this process's pages, and each one written here would be copied (dear
  # in a VM: it made a fork + exec cost this process 4.5 ms instead of 0.6). libuv waits the same way.
  my $ex = '';
  1 while (sysread($exr, $ex, 4, length($ex)) // ($!{EINTR} ? 1 : 0)) > 0;
  close($exr);
  my $job = { id => $id, pid => $pid, out => '', err => '', ex => $ex, in => $input, inoff => 0, open => 2 };
  $job->{deadline} = msecs() + $timeout if $timeout > 0;
  $jobs{$pid} = $job;
  for ([$outr, 'out'], [$errr, 'err']) { nonblock($_->[0]); $readers{fileno($_->[0])} = [$job, $_->[1], $_->[0]]; }
  if (length($input)) { nonblock($inw); $writers{fileno($inw)} = [$job, $inw]; }
  else { close($inw); }
}

sub finish {
  my ($job) = @_;
  return if !defined($job->{status}) || $job->{open} > 0;
  delete $jobs{$job->{pid}};
  my $st = $job->{status};
  my @a;
  if (length($job->{ex}) >= 4) { my $e = unpack('N', $job->{ex}); @a = ('errno', $e, '', errtext($e)); }
  elsif ($st & 127) { @a = ('signal', $st & 127, $job->{out}, $job->{err}); }
  else { @a = ('exit', $st >> 8, $job->{out}, $job->{err}); }
  answer($job->{id}, @a);
}

sub op_exec {
  my ($id, $timeout, $cwd, $input, $nenv, @rest) = @_;
  my @env = $nenv >= 0 ? splice(@rest, 0, $nenv) : ();
  my @argv = @rest;
  return refuse($id, 'exec: no command') unless @argv && length($argv[0]);
  start($id, $input, $timeout, sub {
    my ($exw) = @_;
    if (length($cwd) && !chdir($cwd)) { syswrite($exw, pack('N', $! + 0)); quit(127); }
    if ($nenv >= 0) { %ENV = (); for (@env) { my ($k, $v) = split /=/, $_, 2; $ENV{$k} = $v; } }
    { exec { $argv[0] } @argv; }   # the block says the failure path below is meant
    syswrite($exw, pack('N', $! + 0));
  });
}

# Whatever the programs the helper starts next are given, it must not be another namespace: no way back is fatal.
sub back_to_node {
  sc($NR_SETNS, fileno($node_netns), $CLONE_NEWNET) == 0 or die "setns back to the node's network namespace: $!\n";
}

sub netns_name_ok { return $_[0] =~ /\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}\z/; }

# As ip netns add: /run/netns a shared mount point (made one by a recursive bind on itself if it is not),
# so a namespace bound below it is seen from every mount namespace that shares the host's.
sub netns_dir {
  return '' if $netns_ready;
  mkdir('/run/netns', 0755) or $!{EEXIST} or return "mkdir /run/netns: $!";
  for my $try (0, 1) {
    if (sc($NR_MOUNT, '', '/run/netns', 'none', $MS_SHARED | $MS_REC, 0) == 0) { $netns_ready = 1; return ''; }
    return "mount --make-rshared /run/netns: $!" if !$!{EINVAL} || $try;
    sc($NR_MOUNT, '/run/netns', '/run/netns', 'none', $MS_BIND | $MS_REC, 0) == 0 or return "mount --rbind /run/netns /run/netns: $!";
  }
}

# As ip netns add, but without a process: the helper unshares its own network namespace, binds it at the
# path, and goes back into the node's at once (a fork here cost 4 ms of the helper's CPU and more of the
# child's). Nothing else runs in between: the helper is single-threaded and answers one request at a time.
sub op_netns_add {
  my ($id, $name) = @_;
  return refuse($id, "netns-add: invalid name \"$name\"") unless netns_name_ok($name);
  my $bad = netns_dir();
  return refuse($id, $bad) if $bad;
  my $path = "/run/netns/$name";
  sysopen(my $f, $path, 0 | 64 | 128, 0) or return refuse($id, "create $path: $!");   # O_RDONLY|O_CREAT|O_EXCL
  close($f);
  my $err;
  if (sc($NR_UNSHARE, $CLONE_NEWNET) != 0) { $err = "unshare(CLONE_NEWNET): $!"; }
  else {
    $err = "bind /proc/self/ns/net on $path: $!" if sc($NR_MOUNT, '/proc/self/ns/net', $path, 'none', $MS_BIND, 0) != 0;
    back_to_node();
  }
  if ($err) { unlink($path); return refuse($id, $err); }
  answer($id, 'exit', 0, '', '');
}

sub op_netns_del {
  my ($id, $name) = @_;
  return refuse($id, "netns-del: invalid name \"$name\"") unless netns_name_ok($name);
  my $path = "/run/netns/$name";
  sc($NR_UMOUNT2, $path, $MNT_DETACH);
  return refuse($id, "remove $path: $!") unless unlink($path);
  answer($id, 'exit', 0, '', '');
}

sub op_mount {
  my ($id, $source, $target, $fstype, $flags, $data) = @_;
  my @a = map { length($_) ? $_ : 0 } ($source, $target, $fstype);
  return refuse($id, 'mount: no target') unless length($target);
  return answer($id, 'exit', 0, '', '') if sc($NR_MOUNT, @a, $flags + 0, length($data) ? $data : 0) == 0;
  refuse($id, "mount $target: $!");
}

sub op_umount {
  my ($id, $target, $flags) = @_;
  return answer($id, 'exit', 0, '', '') if sc($NR_UMOUNT2, $target, $flags + 0) == 0;
  refuse($id, "umount $target: $!");
}

sub op_hold {
  my ($id, $log, @argv) = @_;
  return refuse($id, 'hold: no command') unless @argv && length($argv[0]);
  open(my $logfh, '>>', $log) or return refuse($id, "open $log: $!");
  my ($inr, $inw, $outr, $outw, $exr, $exw);
  unless (pipe($inr, $inw) && pipe($outr, $outw) && pipe($exr, $exw)) { refuse($id, "pipe: $!"); return; }
  my $pid = fork();
  if (!defined($pid)) { answer($id, 'errno', $! + 0, '', "fork: $!"); return; }
  if ($pid == 0) {
    $SIG{PIPE} = 'DEFAULT';
    $SIG{CHLD} = 'DEFAULT';
    syscall($NR_SETSID);
    open(STDIN, '<&', $inr);
    open(STDOUT, '>&', $outw);
    open(STDERR, '>&', $logfh);
    { exec { $argv[0] } @argv; }
    syswrite($exw, pack('N', $! + 0));
    quit(127);
  }
  close($logfh);
  close($inr);
  close($outw);
  close($exw);
  my $ex = '';
  1 while (sysread($exr, $ex, 4, length($ex)) // ($!{EINTR} ? 1 : 0)) > 0;
  close($exr);
  if (length($ex) >= 4) { my $e = unpack('N', $ex); return answer($id, 'errno', $e, '', errtext($e)); }
  $held{$id} = [$pid, $inw, $outr];
  answer($id, 'held', $pid, '', '');
}

sub op_talk {
  my ($id, $which, $line) = @_;
  my $h = delete $held{$which} or return refuse($id, "talk: no held program $which");
  my (undef, $inw, $outr) = @$h;
  syswrite($inw, $line);
  close($inw);
  nonblock($outr);
  $talks{fileno($outr)} = [$id, $outr, ''];
}

sub op_drop {
  my ($id, $which) = @_;
  my $h = delete $held{$which};
  if ($h) { close($h->[1]); close($h->[2]); }
  answer($id, 'exit', 0, '', '');
}

my %node_nl;   # the node's netlink sockets by protocol (rtnetlink's is kept), made at first use
my $rtnl_seq = 0;

# A netlink socket of protocol $proto in the node's network namespace ($ns empty) or in /run/netns/NAME:
# (socket) or (undef, why).
sub nl_socket {
  my ($proto, $ns, $what) = @_;
  my $s;
  if (length($ns)) {
    return (undef, "$what: invalid network namespace \"$ns\"") unless $ns =~ m{\A/run/netns/([^/]*)\z} && netns_name_ok($1);
    open(my $f, '<', $ns) or return (undef, "open $ns: $!");
    # The socket belongs to the namespace it is made in; the helper goes back into the node's at once.
    sc($NR_SETNS, fileno($f), $CLONE_NEWNET) == 0 or return (undef, "setns $ns: $!");
    my $ok = socket($s, 16, 3, $proto);   # AF_NETLINK, SOCK_RAW
    my $err = "$!";
    back_to_node();
    close($f);
    return (undef, "netlink socket in $ns: $err") unless $ok;
    return ($s);
  }
  return ($node_nl{$proto}) if $proto == 0 && $node_nl{$proto};
  socket($s, 16, 3, $proto) or return (undef, "netlink socket: $!");
  $node_nl{$proto} = $s if $proto == 0;
  return ($s);
}

sub op_rtnl {
  my ($id, $ns, @msgs) = @_;
  my ($s, $why) = nl_socket(0, $ns, 'rtnl');   # NETLINK_ROUTE
  return refuse($id, $why) unless $s;
  my $out = '';
  for my $i (0 .. $#msgs) {
    my $m = $msgs[$i];
    return refuse($id, "rtnl: message $i is not one") if length($m) < 16 || unpack('L', $m) != length($m);
    my $seq = $rtnl_seq = ($rtnl_seq + 1) % 4294967296;
    substr($m, 8, 4) = pack('L', $seq);
    defined(send($s, $m, 0)) or return refuse($id, "rtnl: send: $!");
    # rtnetlink answers in the sender's own call: the reply and the acknowledgement are queued already.
    for (my $acked = 0; !$acked; ) {
      my $buf = '';
      unless (defined(recv($s, $buf, 1 << 16, 0))) { next if $!{EINTR}; return refuse($id, "rtnl: recv: $!"); }
      for (my $at = 0; $at + 16 <= length($buf); ) {
        my ($len, $type, undef, $rseq) = unpack('LSSL', substr($buf, $at, 12));
        last if $len < 16;
        if ($rseq == $seq) {
          if ($type == 2) {   # NLMSG_ERROR; error 0 is the acknowledgement
            my $e = -unpack('l', substr($buf, $at + 16, 4));
            return answer($id, 'nlerr', $e, $out, "$i") if $e;
            $acked = 1;
          } elsif ($type == 3) { $acked = 1; }   # NLMSG_DONE
          else { $out .= substr($buf, $at, $len); }
        }
        $at += ($len + 3) & ~3;
      }
    }
  }
  answer($id, 'exit', 0, $out, '');
}

# One nf_tables transaction: the batch (begin, messages, end) goes to the kernel in one send, on a socket of
# its own (so no reply of an earlier request can be mistaken for one of this). The kernel takes a batch in
# the sender's call, so every acknowledgement or refusal is queued when send returns: they are read without
# waiting, and a batch that asked for none cannot hang the helper.
sub op_nfnl {
  my ($id, $ns, $batch) = @_;
  my (%index, $n);
  for (my $at = 0; $at < length($batch); $n++) {
    return refuse($id, "nfnl: message $n is cut short") if $at + 16 > length($batch);
    my ($len, undef, $flags, $seq) = unpack('LSSL', substr($batch, $at, 12));
    return refuse($id, "nfnl: message $n is not one") if $len < 16 || $at + $len > length($batch);
    $index{$seq} = $n if $flags & 4;   # NLM_F_ACK
    $at += ($len + 3) & ~3;
  }
  my ($s, $why) = nl_socket(12, $ns, 'nfnl');   # NETLINK_NETFILTER
  return refuse($id, $why) unless $s;
  setsockopt($s, 1, 32, pack('i', length($batch) + 65536));   # SOL_SOCKET, SO_SNDBUFFORCE
  setsockopt($s, 1, 33, pack('i', 1 << 20));                  # SO_RCVBUFFORCE
  setsockopt($s, 270, 10, pack('i', 1));                      # SOL_NETLINK, NETLINK_CAP_ACK: no echo in a refusal
  defined(send($s, $batch, 0)) or do { my $e = "$!"; close($s); return refuse($id, "nfnl: send: $e"); };
  my ($acks, $errno, $which) = (0, 0, -1);
  while (1) {
    my $buf = '';
    unless (defined(recv($s, $buf, 1 << 16, 0x40))) {   # MSG_DONTWAIT
      next if $!{EINTR};
      last if $!{EAGAIN} || $!{EWOULDBLOCK};
      my $e = "$!";
      close($s);
      return refuse($id, "nfnl: recv: $e");
    }
    last unless length($buf);
    for (my $at = 0; $at + 20 <= length($buf); ) {
      my ($len, $type, undef, $rseq) = unpack('LSSL', substr($buf, $at, 12));
      last if $len < 16;
      if ($type == 2) {   # NLMSG_ERROR; error 0 is the acknowledgement
        my $e = -unpack('l', substr($buf, $at + 16, 4));
        if ($e) { ($errno, $which) = ($e, $index{$rseq} // -1) unless $errno; }
        elsif (exists $index{$rseq}) { $acks++; }
      }
      $at += ($len + 3) & ~3;
    }
  }
  close($s);
  return answer($id, 'nlerr', $errno, '', "$which") if $errno;
  my $want = keys %index;
  return refuse($id, "nfnl: $acks of $want messages acknowledged") if $acks != $want;
  answer($id, 'exit', 0, '', '');
}

my %ops = (exec => \&op_exec, 'netns-add' => \&op_netns_add, 'netns-del' => \&op_netns_del, mount => \&op_mount, umount => \&op_umount,
  hold => \&op_hold, talk => \&op_talk, drop => \&op_drop, rtnl => \&op_rtnl, nfnl => \&op_nfnl);

sub requests {
  while (length($inbuf) >= 8) {
    my ($id, $len) = unpack('NN', $inbuf);
    return if length($inbuf) < 8 + $len;
    my @f = unpack('(N/a*)*', substr($inbuf, 8, $len));
    substr($inbuf, 0, 8 + $len) = '';
    my $op = shift(@f) // '';
    if ($ops{$op}) { $ops{$op}->($id, @f); }
    else { refuse($id, "unknown operation \"$op\""); }
  }
}

nonblock(\*STDIN);
for (;;) {
  my ($rin, $win) = ('', '');
  vec($rin, 0, 1) = 1;
  vec($rin, fileno($wake_r), 1) = 1;
  vec($rin, $_, 1) = 1 for keys %readers, keys %talks;
  vec($win, $_, 1) = 1 for keys %writers;
  my $wait;
  for my $j (values %jobs) { next unless $j->{deadline}; my $left = ($j->{deadline} - msecs()) / 1000; $wait = $left if !defined($wait) || $left < $wait; }
  $wait = 0 if defined($wait) && $wait < 0;
  my $n = select(my $rout = $rin, my $wout = $win, undef, $wait);
  if ($n < 0) { next if $!{EINTR}; die "select: $!\n"; }
  if ($n > 0) {
    if (vec($rout, 0, 1)) {
      my $got = sysread(STDIN, $inbuf, 1 << 16, length($inbuf));
      exit(0) if defined($got) && $got == 0;
      requests() if $got;
    }
    sysread($wake_r, my $drain, 4096) if vec($rout, fileno($wake_r), 1);
    for my $fd (keys %readers) {
      next unless vec($rout, $fd, 1);
      my ($job, $which, $h) = @{$readers{$fd}};
      my $got = sysread($h, $job->{$which}, 1 << 16, length($job->{$which}));
      next if !defined($got) && ($!{EAGAIN} || $!{EINTR});
      if (!$got) { delete $readers{$fd}; close($h); $job->{open}--; finish($job); }
    }
    for my $fd (keys %talks) {
      next unless vec($rout, $fd, 1);
      my $t = $talks{$fd};
      my $got = sysread($t->[1], $t->[2], 4096, length($t->[2]));
      next if !defined($got) && ($!{EAGAIN} || $!{EINTR});
      my $nl = index($t->[2], "\n");
      next if $got && $nl < 0;
      delete $talks{$fd};
      close($t->[1]);
      answer($t->[0], 'exit', 0, $nl >= 0 ? substr($t->[2], 0, $nl) : $t->[2], '');
    }
    for my $fd (keys %writers) {
      next unless vec($wout, $fd, 1);
      my ($job, $h) = @{$writers{$fd}};
      my $put = syswrite($h, $job->{in}, 1 << 16, $job->{inoff});
      next if !defined($put) && ($!{EAGAIN} || $!{EINTR});
      $job->{inoff} += $put if $put;
      if (!defined($put) || $job->{inoff} >= length($job->{in})) { delete $writers{$fd}; close($h); $job->{in} = ''; }
    }
  }
  while ((my $pid = waitpid(-1, 1)) > 0) {   # WNOHANG
    my $job = $jobs{$pid} or next;
    $job->{status} = $?;
    for my $fd (keys %writers) { if ($writers{$fd}[0] == $job) { close($writers{$fd}[1]); delete $writers{$fd}; } }
    finish($job);
  }
  my $now = msecs();
  for my $j (values %jobs) {
    next unless $j->{deadline} && $now >= $j->{deadline} && !$j->{killed};
    kill('KILL', $j->{pid});
    $j->{killed} = 1;
  }
}
`;
