// Applies SCIM PATCH operations with the scim-patch library, for the
// cross-checks in internal/scim/scimpeers. Reads {"cases":[{"resource":{...},
// "operations":[...]}]} on stdin and writes one result per case on stdout:
// {"ok":true,"resource":{...}} or {"ok":false,"error":"Name: message"}.
import { readFileSync } from 'node:fs';
import { scimPatch, patchBodyValidation, PATCH_OPERATION_SCHEMA } from 'scim-patch';

const job = JSON.parse(readFileSync(0, 'utf8'));
const results = job.cases.map(({ resource, operations }) => {
  try {
    patchBodyValidation({ schemas: [PATCH_OPERATION_SCHEMA], Operations: operations });
    const out = scimPatch(structuredClone(resource), operations, { mutateDocument: true, treatMissingAsAdd: true });
    return { ok: true, resource: out };
  } catch (e) {
    return { ok: false, error: `${e.name}: ${e.message}` };
  }
});
process.stdout.write(JSON.stringify(results));
