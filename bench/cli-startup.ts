// How long the everyday commands take, start to exit, against a real control plane with the demo
// config: what a person at a terminal or a CI step waits for. Each command runs --runs times one
// after the other; the table gives the median and the slowest. `--only main` runs the build in
// dist/, `--compare DIR` runs another build's dist/src/cli/main.js beside it in the same run.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { benchArgs } from './args.js';
import { DEMO_FILE } from '../src/dev/dev.js';
import { loadConfigFiles } from '../src/config/load.js';
import { CLI } from '../test/helpers/launch.js';
import { BenchStack, runBench } from './stack.js';
import { quantile } from './stats.js';

const run = promisify(execFile);

const values = benchArgs({
  options: {
    runs: { type: 'string', default: '15' },
    compare: { type: 'string' },
  },
});
const runs = Number(values.runs);

const COMMANDS: [string, string[]][] = [
  ['--help', ['--help']],
  ['validate demo.yaml', ['validate', DEMO_FILE]],
  ['get routes', ['get', 'routes']],
  ['status', ['status']],
  ['diff -f demo.yaml', ['diff', '-f', DEMO_FILE]],
];

async function timeCommand(cli: string, args: string[], env: NodeJS.ProcessEnv): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await run(process.execPath, [cli, ...args], { env: { ...process.env, ...env } });
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return ms;
}

await runBench(async (children) => {
  const stack = await BenchStack.start(children);
  const demo = await loadConfigFiles([DEMO_FILE]);
  if (!demo.ok) throw new Error('examples/demo.yaml does not validate');
  await stack.putConfig(demo.config);
  const env = { SIGNALBOX_SERVER: stack.api, SIGNALBOX_TOKEN: 'bench-token' };
  const builds: [string, string][] = [['this build', CLI]];
  if (values.compare) builds.push([values.compare, resolve(values.compare, 'dist/src/cli/main.js')]);

  process.stdout.write(`node ${process.version}, ${runs} runs each (ms, start to exit)\n`);
  process.stdout.write(`${'command'.padEnd(22)}${builds.map(([name]) => `${`${name} p50`.padStart(22)}${'max'.padStart(8)}`).join('')}\n`);
  for (const [name, args] of COMMANDS) {
    let line = name.padEnd(22);
    for (const [, cli] of builds) {
      const ms = await timeCommand(cli, args, env);
      line += `${quantile(ms, 0.5).toFixed(0).padStart(22)}${Math.max(...ms).toFixed(0).padStart(8)}`;
    }
    process.stdout.write(`${line}\n`);
  }
});
