// Verifies one Gatehouse access token with a third-party library, the way a
// data service would. Reads a JSON job from stdin:
//   {"verifier": "jose" | "oauth4webapi", "token", "jwksURL", "issuer",
//    "audience", "algorithms": [...]}
// and writes one JSON line to stdout: {"ok": true, "header", "claims"} and
// exit 0 when the library accepts the token, {"ok": false, "code",
// "message"} and exit 1 when it rejects it. Anything else (a bad job, a
// crash) exits 2.
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function withJose(job) {
  const jwks = jose.createRemoteJWKSet(new URL(job.jwksURL));
  const { payload, protectedHeader } = await jose.jwtVerify(job.token, jwks, {
    issuer: job.issuer,
    audience: job.audience,
    typ: 'at+jwt',
    algorithms: job.algorithms,
  });
  return { header: protectedHeader, claims: payload };
}

async function withOAuth4WebAPI(job) {
  const as = { issuer: job.issuer, jwks_uri: job.jwksURL };
  // The resource server's view: the request a client sent it.
  const request = new Request(new URL('/data', job.audience), {
    headers: { authorization: `Bearer ${job.token}` },
  });
  const claims = await oauth.validateJwtAccessToken(as, request, job.audience, {
    [oauth.allowInsecureRequests]: true, // the test's JWKS is on http://127.0.0.1
    signingAlgorithms: job.algorithms,
  });
  return { header: jose.decodeProtectedHeader(job.token), claims };
}

const verifiers = { jose: withJose, oauth4webapi: withOAuth4WebAPI };

let job;
try {
  job = await readStdin();
  if (!verifiers[job.verifier]) throw new Error(`unknown verifier ${job.verifier}`);
} catch (e) {
  process.stderr.write(`bad job: ${e.message}\n`);
  process.exit(2);
}
try {
  const out = await verifiers[job.verifier](job);
  process.stdout.write(JSON.stringify({ ok: true, ...out }) + '\n');
  process.exit(0);
} catch (e) {
  if (!(e instanceof Error) || (e.code === undefined && e.name === 'TypeError')) {
    process.stderr.write(`crash: ${e && e.stack}\n`);
    process.exit(2);
  }
  process.stdout.write(JSON.stringify({ ok: false, code: String(e.code ?? e.name), message: String(e.message) }) + '\n');
  process.exit(1);
}
