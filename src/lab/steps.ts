// Runs `up` as a list of steps, one progress line each on stderr (a spinner while a step runs on a terminal);
// on failure, undoes what was made.
import { CommandError } from '../util/exec.js';
import { LabError } from './errors.js';
import { progress } from './progress.js';

export interface Step {
  /** What the step does, as the user reads it: "Creating node network k8ts0 172.30.0.0/24". */
  name: string;
  execute(): Promise<void> | void;
  /** Removes what execute made. Must tolerate a half-made state: it also runs for the step that failed. */
  undo?(): Promise<void> | void;
}

export interface RunStepsOptions {
  /** Where progress lines go; default stderr. */
  log?: (line: string) => void;
  /** Called as each step starts (default: the spinner on stderr when the log is stderr). */
  begin?: (name: string) => void;
  /** Keep what was made when a step fails (for debugging); default false. */
  retain?: boolean;
}

export class StepError extends LabError {
  /** The command that failed inside the step, when it was a command. */
  readonly command?: string[];
  readonly stderr?: string;
  constructor(
    readonly step: string,
    override readonly cause: unknown,
    readonly undoErrors: { step: string; error: unknown }[],
  ) {
    const why = cause instanceof Error ? cause.message : String(cause);
    const undo = undoErrors.map((u) => `; undoing "${u.step}" also failed: ${u.error instanceof Error ? u.error.message : String(u.error)}`).join('');
    super('StepFailed', `${step}: ${why}${undo}`, { cause });
    this.name = 'StepError';
    if (cause instanceof CommandError) {
      this.command = cause.argv;
      this.stderr = cause.stderr;
    }
  }
}

export function stepLine(ok: boolean, name: string, ms: number): string {
  return `${ok ? '✓' : '✗'} ${name} (${Math.round(ms)} ms)`;
}

/** A finished line on stderr, replacing the spinner of the step it ends. */
export function stderrLog(line: string): void {
  progress.line(line);
}

/** The spinner's start for a step, when progress goes to stderr (a caller's own log gets no spinner). */
export function beginFor(log: (line: string) => void): (name: string) => void {
  return log === stderrLog ? (name) => progress.begin(name) : () => {};
}

/**
 * Executes the steps in order. When one fails, the undo of that step and then of every completed step runs in
 * reverse order, and a StepError naming the failed step (with its command and stderr) is thrown.
 */
export async function runSteps(steps: Step[], opts: RunStepsOptions = {}): Promise<void> {
  const log = opts.log ?? stderrLog;
  const begin = opts.begin ?? beginFor(log);
  const done: Step[] = [];
  for (const step of steps) {
    begin(step.name);
    const t0 = performance.now();
    try {
      await step.execute();
    } catch (e) {
      log(stepLine(false, step.name, performance.now() - t0));
      const undoErrors = opts.retain ? [] : await undoAll([...done, step], log);
      throw new StepError(step.name, e, undoErrors);
    }
    log(stepLine(true, step.name, performance.now() - t0));
    done.push(step);
  }
}

async function undoAll(made: Step[], log: (line: string) => void): Promise<{ step: string; error: unknown }[]> {
  const errors: { step: string; error: unknown }[] = [];
  for (const step of made.reverse()) {
    if (!step.undo) continue;
    beginFor(log)(`Undo: ${step.name}`);
    const t0 = performance.now();
    try {
      await step.undo();
      log(stepLine(true, `Undo: ${step.name}`, performance.now() - t0));
    } catch (e) {
      log(stepLine(false, `Undo: ${step.name}`, performance.now() - t0));
      errors.push({ step: step.name, error: e });
    }
  }
  return errors;
}
