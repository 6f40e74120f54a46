// Progress of long work (k8ts up, down, image import/pull), the way kind shows it: on a terminal a spinner
// with the running step and its elapsed time, replaced by the step's ✓/✗ line when it ends; elsewhere (a
// pipe, a log file, CI) only the plain lines, one per step with its time, nothing redrawn.
const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const FRAME_MS = 100;

export interface ProgressOutput {
  write(s: string): unknown;
  isTTY?: boolean;
}

export class Progress {
  private current?: { name: string; t0: number };
  private timer?: NodeJS.Timeout;
  private frame = 0;
  readonly tty: boolean;

  constructor(
    private out: ProgressOutput = process.stderr,
    tty?: boolean,
  ) {
    this.tty = tty ?? (!!out.isTTY && process.env.TERM !== 'dumb' && !process.env.CI);
  }

  /** A step starts: on a terminal the spinner shows it until the next line; elsewhere nothing is written. */
  begin(name: string): void {
    if (!this.tty) return;
    this.current = { name, t0: performance.now() };
    this.frame = 0;
    this.draw();
    if (!this.timer) {
      this.timer = setInterval(() => this.draw(), FRAME_MS);
      // The spinner never keeps a finished command alive.
      this.timer.unref();
    }
  }

  /** A finished line (a step's ✓/✗ with its time): it replaces the spinner, which stops until the next begin. */
  line(text: string): void {
    if (this.tty && this.current) this.out.write('\r\x1b[2K');
    this.out.write(`${text}\n`);
    this.stop();
  }

  /** Clears a spinner left running (a command failing between steps), so an error starts a clean line. */
  clear(): void {
    if (this.tty && this.current) this.out.write('\r\x1b[2K');
    this.stop();
  }

  private stop(): void {
    this.current = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private draw(): void {
    if (!this.current) return;
    const s = ((performance.now() - this.current.t0) / 1000).toFixed(1);
    this.out.write(`\r\x1b[2K${FRAMES[this.frame++ % FRAMES.length]} ${this.current.name} (${s} s)`);
  }
}

/** The process's progress on stderr. */
export const progress = new Progress();
