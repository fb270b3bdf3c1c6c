// An independently written OpenID provider for spmt's sign-in interop tests: panva's
// oidc-provider (npm, OpenID Certified) on loopback, with the device flow, client credentials
// with private_key_jwt, and authorization code with PKCE. Access tokens are JWTs for one
// resource (the SharePoint the test runs), with the SharePoint scope AllSites.FullControl.
//
// Started by tests/oidc_interop.rs: `node tests/oidc/provider.mjs APP_JWK_FILE`; prints one JSON
// line {"issuer": …} on stdout once listening. Test hooks (the test plays the user):
//   POST /test/resource   body: the resource URL (the SharePoint origin) tokens are for
//   POST /test/approve    approves the most recent device code as admin@oidc.test
// The browser flow's login and consent are answered at /interaction/:uid as admin@oidc.test.
import http from 'node:http';
import fs from 'node:fs';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const appJwk = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const ACCOUNT = 'admin@oidc.test';
let resource = 'http://127.0.0.1';
const pendingDeviceCodes = [];

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signing = { ...(await exportJWK(privateKey)), kid: 'interop-1', alg: 'RS256', use: 'sig' };

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'spmt-public',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      redirect_uris: ['http://localhost'],
    },
    {
      client_id: 'spmt-app',
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      jwks: { keys: [appJwk] },
    },
  ],
  jwks: { keys: [signing] },
  scopes: ['openid', 'offline_access', 'profile'],
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => ({
        scope: 'AllSites.FullControl',
        audience: indicator,
        accessTokenTTL: 3600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  pkce: { required: () => true },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (_ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, preferred_username: id }),
  }),
  issueRefreshToken: (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
});
// Loopback over plain http: the provider must not insist on https cookies.
provider.proxy = true;

provider.on('device_authorization.success', (_ctx, out) => pendingDeviceCodes.push(out.device_code));

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

/** Grants the client every scope it asked for, as admin@oidc.test. */
async function grantFor(clientId, grantId, details) {
  const grant = grantId ? await provider.Grant.find(grantId) : new provider.Grant({ accountId: ACCOUNT, clientId });
  grant.addOIDCScope('openid offline_access profile');
  const missing = details?.missingResourceScopes || {};
  for (const [indicator, scopes] of Object.entries(missing)) grant.addResourceScope(indicator, scopes.join(' '));
  grant.addResourceScope(resource, 'AllSites.FullControl');
  return grant.save();
}

provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/test/resource') {
    resource = (await readBody(ctx.req)).trim();
    ctx.body = { resource };
    return;
  }
  if (ctx.method === 'POST' && ctx.path === '/test/approve') {
    const id = pendingDeviceCodes.pop();
    const code = id && (await provider.DeviceCode.find(id));
    if (!code) {
      ctx.status = 404;
      ctx.body = { error: 'no device code is waiting' };
      return;
    }
    const grantId = await grantFor(code.clientId);
    Object.assign(code, {
      accountId: ACCOUNT,
      grantId,
      authTime: Math.floor(Date.now() / 1000),
      scope: 'openid offline_access AllSites.FullControl',
      resource,
    });
    await code.save();
    ctx.body = { approved: true };
    return;
  }
  if (ctx.method === 'GET' && ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    let result;
    if (details.prompt.name === 'login') {
      result = { login: { accountId: ACCOUNT } };
    } else {
      const grantId = await grantFor(details.params.client_id, details.grantId, details.prompt.details);
      result = { consent: { grantId } };
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.redirect(to);
    return;
  }
  await next();
});

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
