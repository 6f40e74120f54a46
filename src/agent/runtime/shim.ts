// The per-container shim: a small perl-base program that starts the container with `runc run --detach`,
// stays its parent (child subreaper) so it can record the exit status, and timestamps log growth.
//
// Why perl: it is Essential on Debian (always installed), starts in ~5 ms with ~5 MB RSS, and can make
// the few system calls needed (prctl, pidfd_open, inotify, clock_gettime) through `syscall`. Node starts
// too slowly and too big for one process per container, and `runc run` in the foreground would keep a
// 10 MB Go process per container and put pipes between the container and its log file.
//
// Files the shim writes in the container directory (all replaced atomically by rename):
//   shim   "<pid> <starttime>"                        as soon as it has its container
//   init   "<pid> <starttime> <sec> <nsec>"           once the container process runs (startedAt)
//   exit   "<code> <signal> <sec> <nsec>"              when it has reaped it; "- - <sec> <nsec>" if unknown
//   done   "<sec> <nsec>"                              after `runc delete`, when it is about to exit
//   log.idx lines "<size> <sec> <nsec>": the log file had <size> bytes at that time (noted at once after
//          a quiet spell, at most every 50 ms during a burst).
// If the shim is killed, the container runs on (its output goes to the file, not through the shim); only
// its exit status is lost, and the agent reports that (ExitCodeLost) once the process is gone.
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
  if (!s) throw new RuntimeSetupError(`the container shim does not know the system call numbers of architecture ${arch} (supported: ${Object.keys(SYSCALLS).join(', ')})`);
  return [s.prctl, s.clockGettime, s.inotifyInit1, s.inotifyAddWatch, s.pidfdOpen].join(',');
}

/**
 * Arguments: runc binary, runc root, syscall numbers (shimSyscalls()). Started ahead of need (a spare, so
 * perl's start-up is not on the path of a create), it learns its container from a line on stdin:
 * "go<TAB><id><TAB><dir>".
 */
export const SHIM_SCRIPT = String.raw`# k8ts container shim (written by the agent; see src/agent/runtime/shim.ts)
# Deliberately without 'use strict; use warnings' (4 ms of start-up each time); the tests compile it with both.
my ($runc, $root, $nrs) = @ARGV;
my ($NR_PRCTL, $NR_CLOCK, $NR_INO_INIT, $NR_INO_ADD, $NR_PIDFD) = map { $_ + 0 } split /,/, $nrs;
my ($id, $dir);
$0 = 'k8ts-shim (spare)';
$SIG{PIPE} = 'IGNORE';
$SIG{HUP} = 'IGNORE';
$| = 1;

sub now {
  my $ts = pack('q2', 0, 0);
  syscall($NR_CLOCK, 0, $ts) == 0 or die "clock_gettime: $!\n";
  return join(' ', unpack('q2', $ts));
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

syscall($NR_PRCTL, 36, 1, 0, 0, 0) == 0 or die "prctl(PR_SET_CHILD_SUBREAPER): $!\n";
my $go = <STDIN>;
exit 0 unless defined $go && $go =~ /^go\t([^\t\n]+)\t([^\t\n]+)\n\z/;
($id, $dir) = ($1, $2);
$0 = "k8ts-shim $id";
open(STDERR, '>>', "$dir/shim.log") or die "$dir/shim.log: $!\n";
open(STDIN, '<', '/dev/null') or die "/dev/null: $!\n";
put('shim', "$$ " . starttime($$) . "\n");

# runc's stdio becomes the container's: the log file itself, opened for appending, no pipe in between.
my $runner = fork() // die "fork: $!\n";
if ($runner == 0) {
  $SIG{PIPE} = $SIG{HUP} = 'DEFAULT';
  open(STDOUT, '>>', "$dir/log") or die "$dir/log: $!\n";
  open(STDERR, '>&', \*STDOUT) or die "dup: $!\n";
  exec($runc, '--root', $root, '--log', "$dir/runc.log", '--log-format', 'json',
       'run', '--detach', '--bundle', $dir, '--pid-file', "$dir/pid", $id) or die "exec $runc: $!\n";
}
# runc writes the pid file (by rename) once the process runs, a few ms before it exits itself: watch for
# that, or for runc's end without it (a failure).
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
  my $n = select(my $rout = $rin, undef, undef, ($dino >= 0 && $runnerfd >= 0) ? 1 : 0.005);
  sysread($dinofh, my $buf, 4096) if $n > 0 && $dino >= 0 && vec($rout, $dino, 1);
}
close($dinofh) if $dinofh;
if (!-e "$dir/pid") {
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

# Wait for the container's process (our child: its parent in runc exited and we are the subreaper) and note the
# log size whenever the container writes, so readers can tell when each line arrived.
my $pidfd = syscall($NR_PIDFD, $pid, 0);
my $ino = syscall($NR_INO_INIT, 0x80000);
my $inofh;
if ($ino >= 0) {
  if (syscall($NR_INO_ADD, $ino, "$dir/log", 0x2) >= 0) { open($inofh, '<&=', $ino) or $ino = -1; } else { $ino = -1; }
}
open(my $idx, '>>', "$dir/log.idx") or die "$dir/log.idx: $!\n";
my $size = 0;
my $marked = 0;
sub secs {
  my ($s, $n) = split / /, now();
  return $s + $n / 1e9;
}
sub mark {
  my $s = -s "$dir/log" // 0;
  if ($s > $size) { $size = $s; syswrite($idx, "$s " . now() . "\n"); }
  $marked = secs();
}
mark();
my $status;
my $runner_done = defined $runner_status;
sub reap {
  while ((my $w = waitpid(-1, 1)) > 0) { $status = $? if $w == $pid; $runner_done = 1 if $w == $runner; }
}
# A write after a quiet spell is noted at once; during a burst at most every 50 ms, which keeps the index
# small (about 20 entries a second however chatty the container is).
my $pending = 0;
while (!defined $status) {
  my $rin = '';
  vec($rin, $pidfd, 1) = 1 if $pidfd >= 0;
  vec($rin, $ino, 1) = 1 if $ino >= 0;
  my $timeout = $pending ? $marked + 0.05 - secs() : undef;
  $timeout = 0 if defined $timeout && $timeout < 0;
  # Without pidfd (kernels before 5.3) poll for the exit instead.
  $timeout = 0.2 if $pidfd < 0 && (!defined $timeout || $timeout > 0.2);
  my $n = select(my $rout = $rin, undef, undef, $timeout);
  if ($pidfd >= 0 && $n > 0 && vec($rout, $pidfd, 1)) {
    # A process that ends before runc itself has exited is still runc's child: it becomes ours (we are the
    # subreaper) only once runc is gone, so wait for runc first, else its status would be lost.
    if (!$runner_done) { waitpid($runner, 0); $runner_done = 1; }
    $status = $? if waitpid($pid, 0) == $pid;
    reap() unless defined $status;
    last;
  }
  if ($ino >= 0 && $n > 0 && vec($rout, $ino, 1)) {
    sysread($inofh, my $buf, 4096);
    $pending = 1;
  }
  if ($pending && secs() >= $marked + 0.05) {
    mark();
    $pending = 0;
  }
  reap();
  last if !defined $status && $pidfd < 0 && !kill(0, $pid);
}
mark();
if (defined $status) {
  my $sig = $status & 127;
  put('exit', ($sig ? 128 + $sig : $status >> 8) . " $sig " . now() . "\n");
} else {
  put('exit', '- - ' . now() . "\n");
}
reap();
system($runc, '--root', $root, 'delete', $id);
put('done', now() . "\n");
`;
