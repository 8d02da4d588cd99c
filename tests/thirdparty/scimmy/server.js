// SCIMMY with scimmy-routers, unmodified, on 127.0.0.1 for idlcm's tests (tests/thirdparty/test_scimmy.py).
// Usage: node server.js PORT TOKEN [express5]. Storage is in memory; GET /debug/store (no write) shows it.
// Only the storage handlers (ingress/egress/degress) are ours, as every SCIMMY adopter writes them.
// With `express5` the app is Express 5 (npm's latest): its req.query is a getter, so scimmy-routers' cast of
// startIndex/count to numbers is lost and every listing answers the first 20 resources, whatever is asked.
import crypto from "node:crypto";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

const [port, token, flavour] = process.argv.slice(2);
if (!port || !token || ![undefined, "express5"].includes(flavour)) {
    console.error("usage: node server.js PORT TOKEN [express5]");
    process.exit(2);
}
const {default: express} = await import(flavour === "express5" ? "express5" : "express");

const users = new Map();
const groups = new Map();

const stamp = (previous) => {
    const now = new Date().toISOString();
    return {created: previous?.meta?.created ?? now, lastModified: now};
};

// The resource as SCIMMY handed it to us, as plain JSON (what a database would keep).
const plain = (instance) => JSON.parse(JSON.stringify(instance));

const unique = (store, key, value, id) => {
    for (const other of store.values()) {
        if (other.id !== id && String(other[key]).toLowerCase() === String(value).toLowerCase())
            throw new SCIMMY.Types.Error(409, "uniqueness", `${key} ${value} is already taken`);
    }
};

const notFound = (id) => new SCIMMY.Types.Error(404, null, `Resource ${id} not found`);

// A user's groups are read-only in SCIM: derived from the groups' members.
const withGroups = (user) => ({
    ...user,
    groups: [...groups.values()]
        .filter((g) => (g.members ?? []).some((m) => m.value === user.id))
        .map((g) => ({value: g.id, display: g.displayName, type: "direct"})),
});

const select = (resource, store, decorate = (x) => x) => {
    if (resource.id) {
        const found = store.get(resource.id);
        if (!found) throw notFound(resource.id);
        return decorate(found);
    }
    const all = [...store.values()].map(decorate);
    return resource.filter ? resource.filter.match(all) : all;
};

const write = (resource, instance, store, key) => {
    const data = plain(instance);
    const previous = resource.id ? store.get(resource.id) : undefined;
    if (resource.id && !previous) throw notFound(resource.id);
    const id = resource.id ?? crypto.randomUUID();
    unique(store, key, data[key], id);
    delete data.groups;
    const stored = {...data, id, meta: stamp(previous)};
    store.set(id, stored);
    return stored;
};

SCIMMY.Resources.declare(SCIMMY.Resources.User, {
    ingress: (resource, instance) => withGroups(write(resource, instance, users, "userName")),
    egress: (resource) => select(resource, users, withGroups),
    degress: (resource) => {
        if (!users.delete(resource.id)) throw notFound(resource.id);
        for (const g of groups.values()) g.members = (g.members ?? []).filter((m) => m.value !== resource.id);
    },
});

SCIMMY.Resources.declare(SCIMMY.Resources.Group, {
    ingress: (resource, instance) => write(resource, instance, groups, "displayName"),
    egress: (resource) => select(resource, groups),
    degress: (resource) => {
        if (!groups.delete(resource.id)) throw notFound(resource.id);
    },
});

SCIMMY.Config.set({patch: true, filter: true, sort: true, bulk: false, etag: false, changePassword: false});

const app = express();
// One line per request in the server's log (method, path, status, the body scimmy-routers parsed; never a
// header): what the tests show when an answer surprises them.
app.use((request, response, next) => {
    response.on("finish", () => {
        const body = request.body && Object.keys(request.body).length ? ` ${JSON.stringify(request.body)}` : "";
        console.log(`${request.method} ${request.originalUrl} ${response.statusCode}${body}`);
    });
    next();
});
app.get("/debug/store", (request, response) => {
    response.json({Users: [...users.values()], Groups: [...groups.values()]});
});
app.use("/scim/v2", new SCIMMYRouters({
    type: "bearer",
    handler: (request) => {
        if (request.header("Authorization") !== `Bearer ${token}`) throw new Error("Invalid bearer token");
        return "idlcm";
    },
}));

const server = app.listen(Number(port), "127.0.0.1", () => console.log(`listening on 127.0.0.1:${port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
