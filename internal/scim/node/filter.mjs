// Parses SCIM filters with scim2-parse-filter, for the cross-checks in
// internal/scim/scimpeers. Reads {"filters":["..."]} on stdin and writes one
// result per filter on stdout: {"ok":true,"ast":{...}} or
// {"ok":false,"error":"message"}.
import { readFileSync } from 'node:fs';
import { parse } from 'scim2-parse-filter';

const job = JSON.parse(readFileSync(0, 'utf8'));
const results = job.filters.map((f) => {
  try {
    return { ok: true, ast: parse(f) };
  } catch (e) {
    return { ok: false, error: String(e.message) };
  }
});
process.stdout.write(JSON.stringify(results));
