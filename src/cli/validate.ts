import type { Command } from '@commander-js/extra-typings';

export function register(program: Command): void {
  program
    .command('validate')
    .description('check documents offline (exit 0 valid, 1 invalid, 2 usage)')
    .argument('<paths...>', 'YAML/JSON files or folders (merged as one desired state)')
    .action(async (paths) => {
      const [{ loadConfigFiles }, { MAX_ISSUES, formatIssue }] = await Promise.all([import('../config/load.js'), import('../config/validate.js')]);
      // Offline, a certificate without key cannot be checked against the key the control plane keeps.
      const result = await loadConfigFiles(paths, { storedKeys: 'control-plane' });
      if (!result.ok) {
        for (const issue of result.issues) process.stderr.write(`${formatIssue(issue)}\n`);
        // Past MAX_ISSUES, the last line says how many more there are.
        const count = result.issues.length > MAX_ISSUES ? `more than ${MAX_ISSUES} problems` : `${result.issues.length} problem${result.issues.length === 1 ? '' : 's'}`;
        process.stderr.write(`${count}; nothing is valid until all are fixed\n`);
        process.exitCode = 1;
        return;
      }
      const c = result.config;
      process.stdout.write(`valid: ${c.routes.length} routes, ${c.upstreams.length} upstreams, ${c.policies.length} policies, ${c.certificates.length} certificates, ${c.consumers.length} consumers\n`);
    });
}
