/**
 * What `pcigate login` shows on stderr while the RFC 8628 device flow runs (§3.3 user interaction): the
 * verification URI (the complete one when offered), the user code large and clear, a countdown to expiry
 * and a spinner, and one sentence per poll answer. On a TTY an ink screen; otherwise plain lines, once each.
 */
import { Box, Text, render } from 'ink';
import type { Instance } from 'ink';
import { useEffect, useState } from 'react';
import type { Clock, Ctx } from '../cli/ctx.js';
import { DEVICE_FLOW_SENTENCES } from './device-flow.js';
import type { DeviceFlowEvent, DevicePrompt } from './device-flow.js';

export interface LoginView {
  prompt(p: DevicePrompt): void;
  event(e: DeviceFlowEvent): void;
  /** Removes the live screen (before the result is printed). */
  close(): void;
}

/** `ABCD-EFGH` → `A B C D - E F G H`: easier to read aloud and to copy by eye. */
export function spaced(code: string): string {
  return code.split('').join(' ');
}

function remaining(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Plain lines for pipes, CI logs and `--quiet`-less scripts: each sentence printed once. */
export function plainLoginView(say: (line: string) => void, clock: Clock): LoginView {
  const said = new Set<string>();
  return {
    prompt(p) {
      say(`To log in, open ${p.verificationUri} and enter the code: ${p.userCode}`);
      if (p.verificationUriComplete) say(`Or open ${p.verificationUriComplete}`);
      say(`The code expires in ${remaining(p.expiresAt - clock.now())}.`);
    },
    event(e) {
      const line = DEVICE_FLOW_SENTENCES[e.kind];
      if (e.kind === 'slow_down' || !said.has(line)) say(line);
      said.add(line);
    },
    close() {},
  };
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

interface ScreenProps {
  prompt: DevicePrompt;
  status: string;
  clock: Clock;
}

function LoginScreen({ prompt, status, clock }: ScreenProps) {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), 100);
    return () => clearInterval(t);
  }, []);
  const left = prompt.expiresAt - clock.now();
  return (
    <Box flexDirection="column" paddingX={1}>
      <Text bold>Log in to pcigate</Text>
      <Text>
        Open <Text color="cyan" underline>{prompt.verificationUri}</Text> and enter this code:
      </Text>
      <Box borderStyle="double" paddingX={3} marginY={1} alignSelf="flex-start">
        <Text bold color="yellow">{spaced(prompt.userCode)}</Text>
      </Box>
      {prompt.verificationUriComplete ? (
        <Text dimColor>Or open {prompt.verificationUriComplete}</Text>
      ) : null}
      <Text>
        <Text color="green">{SPINNER[tick % SPINNER.length]}</Text> {status}{' '}
        <Text dimColor>(code expires in {remaining(left)})</Text>
      </Text>
    </Box>
  );
}

/** The ink screen, rendered on ctx.stderr (stdout stays clean for --json and pipes). */
export function inkLoginView(ctx: Ctx): LoginView {
  let instance: Instance | undefined;
  let prompt: DevicePrompt | undefined;
  let status: string = DEVICE_FLOW_SENTENCES.pending;
  const draw = () => {
    if (!prompt) return;
    const el = <LoginScreen prompt={prompt} status={status} clock={ctx.clock} />;
    if (instance) instance.rerender(el);
    else {
      instance = render(el, {
        stdout: ctx.stderr as NodeJS.WriteStream,
        stdin: ctx.stdin as NodeJS.ReadStream,
        exitOnCtrlC: false,
        patchConsole: false,
      });
    }
  };
  return {
    prompt(p) { prompt = p; draw(); },
    event(e) { status = DEVICE_FLOW_SENTENCES[e.kind]; draw(); },
    close() { instance?.unmount(); instance = undefined; },
  };
}
