// The per-container shim: a small perl-base program that starts the container with `runc run --detach`,
// stays its parent (child subreaper) so it can record the exit status, and owns the container's log: the
// container's stdout and stderr are one pipe that the shim copies into the log file, timestamping as it
// goes and rotating the file as the kubelet's containerLogMaxSize / containerLogMaxFiles say.
//
// Why perl: it is Essential on Debian (always installed), starts in ~5 ms with ~5 MB RSS, and can make
// the few system calls needed (prctl, pidfd_open, inotify, clock_gettime) through `syscall`. Node starts
// too slowly and too big for one process per container, and `runc run` in the foreground would keep a
// 10 MB Go process per container.
//
// Why a pipe and not the file itself as the container's stdout (as before): a file opened by the container
// can only be rotated by copy-and-truncate, which loses what the container writes between the copy and the
// truncate, or by rename, which the writer never sees (it writes on into the renamed file, so nothing is
// bounded). Owning the pipe, the shim rotates between two of its own writes, at a line boundary, and loses
// nothing: it is what containerd's shim does. The price: the shim is on the data path. If it is killed, the
// container runs on, but its next write gets EPIPE (SIGPIPE, which ends most programs); its exit status is
// lost either way and the agent reports ExitCodeLost once the process is gone. A full disk drops output
// (noted once in shim.log) rather than blocking or killing the container. The pipe holds 1 MiB, so a burst
// does not stall the container while the shim writes.
//
// Rotation (max bytes M, max files N ≥ 2, both from the go line; 0: never): when the next write would take
// the current file past M, the shim writes up to the last whole line that fits (a line longer than M is
// split), then links `log` to `log.<UTC yyyymmdd-hhmmss.nanoseconds>`, deletes the oldest rotated files
// beyond N-1, and starts a new `log` and `log.idx` (each replaced by rename, so `log` always exists). The
// rotated files are not compressed (upstream gzips all but the newest): on a 2-core node gzip would cost a
// container writing flat out more CPU than its writes, and the budget M × N holds without it.
//
// Files the shim writes in the container directory (all replaced atomically by rename):
//   shim   "<pid> <starttime>"                        as soon as it has its container
//   init   "<pid> <starttime> <sec> <nsec>"           once the container process runs (startedAt)
//   exit   "<code> <signal> <sec> <nsec>"              when it has reaped it; "- - <sec> <nsec>" if unknown
//   done   "<sec> <nsec>"                              after `runc delete`, when it is about to exit
//   log    the container's output (stdout and stderr interleaved as written), the current file
//   log.idx "# <inode of log>", then lines "<size> <sec> <nsec>": the current log file had <size> bytes at
//          that time (noted at once after a quiet spell, at most every 50 ms during a burst). The inode
//          lets a reader that opened the two mid-rotation see they do not belong together.
// A spare shim waits for its container on stdin, then prints one line on stdout (a pipe to the agent),
// "started <pid>" or "failed <status>".
import { RuntimeSetupError } from './errors.js';

/** System call numbers the shim needs, per Node architecture (64-bit only: the shim packs 64-bit timespecs). */
const SYSCALLS: Record<string, { prctl: number; clockGettime: number; inotifyInit1: number; inotifyAddWatch: number; pidfdOpen: number }> = {
  x64: { prctl: 157, clockGettime: 228, inotifyInit1: 294, inotifyAddWatch: 254, pidfdOpen: 434 },
  // The asm-generic table.
  arm64: { prctl: 167, clockGettime: 113, inotifyInit1: 26, inotifyAddWatch: 27, pidfdOpen: 434 },
  riscv64: { prctl: 167, clockGettime: 113, inotifyInit1: 26, inotifyAddWatch: 27, pidfdOpen: 434 },
  loong64: { prctl: 167, clockGettime: 113, inotifyInit1: 26, inotifyAddWatch: 27, pidfdOpen: 434 },
};

export function shimSyscalls(arch: string = process.arch): string {
  const s = SYSCALLS[arch];
  if (!s)
    throw new RuntimeSetupError(
      `the container shim does not know the system call numbers of architecture ${arch} (supported: ${Object.keys(SYSCALLS).join(', ')})`,
    );
  return [s.prctl, s.clockGettime, s.inotifyInit1, s.inotifyAddWatch, s.pidfdOpen].join(',');
}

/**
 * Arguments: runc binary, runc root, syscall numbers (shimSyscalls()), and the directory where it notes its
 * container's exit for the agent (an empty file named by the container id, made once `exit` is written: the
 * agent watches that one directory, so an exit is seen at once, not at its next look at the pod). Started
 * ahead of need (a spare, so perl's start-up is not on the path of a create), it learns its container from a
 * line on stdin:
 * "go<TAB><id><TAB><dir>[<TAB><log max bytes><TAB><log max files>]".
 */
export const SHIM_SCRIPT = String.raw`# k8ts container shim (written by the agent; see src/agent/runtime/shim.ts)
# Deliberately without 'use strict; use warnings' (4 ms of start-up each time); the tests compile it with both.
my ($runc, $root, $nrs, $exits) = @ARGV;
my ($NR_PRCTL, $NR_CLOCK, $NR_INO_INIT, $NR_INO_ADD, $NR_PIDFD) = map { $_ + 0 } split /,/, $nrs;
my ($id, $dir, $max, $keep);
# The log: the current file, its index, bytes in it, what the index last said, when, and whether the
# container wrote since.
my ($out, $idx, $rd, $rdfd);
my ($size, $marked_size, $marked, $pending, $open, $werr) = (0, 0, 0, 0, 1, 0);
$0 = 'k8ts-shim (spare)';
$SIG{PIPE} = 'IGNORE';
$SIG{HUP} = 'IGNORE';
$| = 1;

sub now {
  my $ts = pack('q2', 0, 0);
  syscall($NR_CLOCK, 0, $ts) == 0 or die "clock_gettime: $!\n";
  return join(' ', unpack('q2', $ts));
}
sub secs {
  my ($s, $n) = split / /, now();
  return $s + $n / 1e9;
}
sub put {
  my ($name, $text) = @_;
  my $tmp = "$dir/.$name.tmp";
  open(my $f, '>', $tmp) or die "$tmp: $!\n";
  print $f $text;
  close($f) or die "$tmp: $!\n";
  rename($tmp, "$dir/$name") or die "rename $tmp: $!\n";
}
sub starttime {
  my ($pid) = @_;
  open(my $f, '<', "/proc/$pid/stat") or return 0;
  my $s = <$f>;
  $s =~ s/^.*\) //s;
  return (split / /, $s)[19];
}

# A new, empty index for the file $out, headed by that file's inode; the caller renames it into place.
sub newidx {
  my $tmp = "$dir/.log.idx.tmp";
  open(my $f, '>', $tmp) or return undef;
  syswrite($f, '# ' . (stat($out))[1] . "\n");
  $marked_size = 0;
  return $f;
}
sub mark {
  if ($size > $marked_size && $idx) { $marked_size = $size; syswrite($idx, "$size " . now() . "\n"); }
  $marked = secs();
}
sub rotate {
  mark();
  my ($s, $n) = split / /, now();
  my @t = gmtime($s);
  my $name = sprintf('log.%04d%02d%02d-%02d%02d%02d.%09d', $t[5] + 1900, $t[4] + 1, $t[3], $t[2], $t[1], $t[0], $n);
  my $next;
  # Whatever fails here, nothing is lost: the container's output goes on into the current file, and the
  # next attempt comes after another max-size bytes.
  if (!link("$dir/log", "$dir/$name")) { print STDERR "log rotation: link $name: $!\n"; $size = 0; return; }
  # The oldest go before the new file is made, so there are never more than max files, even for a moment.
  if (opendir(my $d, $dir)) {
    my @old = sort grep { /^log\.\d{8}-\d{6}\.\d{9}\z/ } readdir($d);
    closedir($d);
    unlink(map { "$dir/$_" } @old[0 .. $#old - ($keep - 1)]) if @old > $keep - 1;
  }
  if (!open($next, '>', "$dir/.log.tmp")) { print STDERR "log rotation: $dir/.log.tmp: $!\n"; unlink("$dir/$name"); $size = 0; return; }
  binmode($next);
  my $prev = $out;
  $out = $next;
  my $nidx = newidx();
  if (!$nidx || !rename("$dir/.log.idx.tmp", "$dir/log.idx") || !rename("$dir/.log.tmp", "$dir/log")) {
    print STDERR "log rotation: $!\n";
    unlink("$dir/$name", "$dir/.log.tmp", "$dir/.log.idx.tmp");
    $out = $prev;
    $size = 0;
    return;
  }
  close($prev);
  close($idx) if $idx;
  $idx = $nidx;
  $size = 0;
}
sub out {
  my ($b) = @_;
  my ($off, $len) = (0, length($b));
  while ($off < $len) {
    my $w = syswrite($out, $b, $len - $off, $off);
    if (!defined $w) { print STDERR "log write: $!; output dropped\n" unless $werr++; last; }
    $off += $w;
  }
  $size += $off;
}
# Writes a chunk of output, rotating first when it would take the file past max (at a line boundary).
sub emit {
  my ($b) = @_;
  while (length $b) {
    my $room = $max - $size;
    if (!$max || length($b) <= $room) { out($b); return; }
    my $cut = $room > 0 ? rindex($b, "\n", $room - 1) : -1;
    if ($cut >= 0) { out(substr($b, 0, $cut + 1, '')); }
    elsif ($size == 0) { out(substr($b, 0, $room, '')); }
    rotate();
  }
}
# Copies what the pipe holds now (at most 4 MiB, so exits and marks are not starved); bytes read.
sub pump {
  my $got = 0;
  for (1 .. 16) {
    my $n = sysread($rd, my $buf, 262144);
    last if !defined $n;
    if ($n == 0) { $open = 0; last; }
    emit($buf);
    $got += $n;
  }
  $pending = 1 if $got;
  return $got;
}

syscall($NR_PRCTL, 36, 1, 0, 0, 0) == 0 or die "prctl(PR_SET_CHILD_SUBREAPER): $!\n";
my $go = <STDIN>;
exit 0 unless defined $go && $go =~ /^go\t([^\t\n]+)\t([^\t\n]+)(?:\t(\d{1,15})\t(\d{1,6}))?\n\z/;
($id, $dir, $max, $keep) = ($1, $2, ($3 // 0) + 0, ($4 // 0) + 0);
$max = 0 if $keep < 2;
$0 = "k8ts-shim $id";
open(STDERR, '>>', "$dir/shim.log") or die "$dir/shim.log: $!\n";
open(STDIN, '<', '/dev/null') or die "/dev/null: $!\n";
put('shim', "$$ " . starttime($$) . "\n");

# runc's stdio becomes the container's: one pipe for stdout and stderr, read here (non-blocking).
pipe($rd, my $wr) or die "pipe: $!\n";
fcntl($rd, 1031, 1 << 20);
fcntl($rd, 4, (fcntl($rd, 3, 0) + 0) | 04000) or die "fcntl: $!\n";
$rdfd = fileno($rd);
open($out, '>>', "$dir/log") or die "$dir/log: $!\n";
binmode($out);
$size = (-s $out) || 0;
$idx = newidx();
rename("$dir/.log.idx.tmp", "$dir/log.idx") or die "$dir/log.idx: $!\n";
my $runner = fork() // die "fork: $!\n";
if ($runner == 0) {
  $SIG{PIPE} = $SIG{HUP} = 'DEFAULT';
  open(STDOUT, '>&', $wr) or die "dup: $!\n";
  open(STDERR, '>&', $wr) or die "dup: $!\n";
  exec($runc, '--root', $root, '--log', "$dir/runc.log", '--log-format', 'json',
       'run', '--detach', '--bundle', $dir, '--pid-file', "$dir/pid", $id) or die "exec $runc: $!\n";
}
close($wr);
# runc writes the pid file (by rename) once the process runs, a few ms before it exits itself: watch for
# that, or for runc's end without it (a failure). What it prints meanwhile goes to the log.
my $dino = syscall($NR_INO_INIT, 0x80000);
my $dinofh;
if ($dino >= 0 && syscall($NR_INO_ADD, $dino, $dir, 0x80) >= 0) { open($dinofh, '<&=', $dino) or $dino = -1; } else { $dino = -1; }
my $runnerfd = syscall($NR_PIDFD, $runner, 0);
my $runner_status;
while (!-e "$dir/pid") {
  if (waitpid($runner, 1) == $runner) { $runner_status = $?; last; }
  my $rin = '';
  vec($rin, $dino, 1) = 1 if $dino >= 0;
  vec($rin, $runnerfd, 1) = 1 if $runnerfd >= 0;
  vec($rin, $rdfd, 1) = 1 if $open;
  my $n = select(my $rout = $rin, undef, undef, ($dino >= 0 && $runnerfd >= 0) ? 1 : 0.005);
  sysread($dinofh, my $buf, 4096) if $n > 0 && $dino >= 0 && vec($rout, $dino, 1);
  pump() if $n > 0 && $open && vec($rout, $rdfd, 1);
}
close($dinofh) if $dinofh;
if (!-e "$dir/pid") {
  while ($open && pump()) {}
  mark();
  print "failed $runner_status\n";
  exit 0;
}
open(my $pf, '<', "$dir/pid") or die "$dir/pid: $!\n";
my $pid = <$pf>;
close($pf);
chomp $pid;
$pid += 0;
put('init', "$pid " . starttime($pid) . ' ' . now() . "\n");
print "started $pid\n";
open(STDOUT, '>&', \*STDERR) or die "dup: $!\n";
# runc exits a few ms after it wrote the pid file. Reaped now: the loop below reaps only when it wakes, and a
# quiet container would keep it a zombie (holding all its CPU time out of ours) until it wrote or ended.
$runner_status = $? if !defined($runner_status) && waitpid($runner, 0) == $runner;

# Wait for the container's process (our child: its parent in runc exited and we are the subreaper), copying
# its output to the log and noting the log's size as it grows, so readers can tell when each line arrived.
my $pidfd = syscall($NR_PIDFD, $pid, 0);
mark();
my $status;
my $runner_done = defined $runner_status;
sub reap {
  while ((my $w = waitpid(-1, 1)) > 0) { $status = $? if $w == $pid; $runner_done = 1 if $w == $runner; }
}
# Output after a quiet spell is noted at once; during a burst at most every 50 ms, which keeps the index
# small (about 20 entries a second however chatty the container is).
while (!defined $status) {
  my $rin = '';
  vec($rin, $pidfd, 1) = 1 if $pidfd >= 0;
  vec($rin, $rdfd, 1) = 1 if $open;
  my $timeout = $pending ? $marked + 0.05 - secs() : undef;
  $timeout = 0 if defined $timeout && $timeout < 0;
  # Without pidfd (kernels before 5.3) poll for the exit instead.
  $timeout = 0.2 if $pidfd < 0 && (!defined $timeout || $timeout > 0.2);
  my $n = select(my $rout = $rin, undef, undef, $timeout);
  pump() if $n > 0 && $open && vec($rout, $rdfd, 1);
  if ($pidfd >= 0 && $n > 0 && vec($rout, $pidfd, 1)) {
    # A process that ends before runc itself has exited is still runc's child: it becomes ours (we are the
    # subreaper) only once runc is gone, so wait for runc first, else its status would be lost.
    if (!$runner_done) { waitpid($runner, 0); $runner_done = 1; }
    $status = $? if waitpid($pid, 0) == $pid;
    reap() unless defined $status;
    last;
  }
  if ($pending && secs() >= $marked + 0.05) {
    mark();
    $pending = 0;
  }
  reap();
  last if !defined $status && $pidfd < 0 && !kill(0, $pid);
}
# What the container wrote before it ended is in the pipe still: copied until the pipe is empty (a process it
# left behind in a shared pid namespace that keeps writing is not waited for past a second).
my $until = secs() + 1;
while ($open && secs() < $until && pump()) {}
mark();
close($out);
if (defined $status) {
  my $sig = $status & 127;
  put('exit', ($sig ? 128 + $sig : $status >> 8) . " $sig " . now() . "\n");
} else {
  put('exit', '- - ' . now() . "\n");
}
# The agent's notice: it looks at the pod now rather than at its next resync (a failure only delays that).
if (defined $exits && open(my $n, '>', "$exits/$id")) { close($n); }
reap();
system($runc, '--root', $root, 'delete', $id);
put('done', now() . "\n");
`;
