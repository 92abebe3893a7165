// Imported first by the Node entries: loads the project's .env into process.env when it exists,
// before any setting is read, so a process started on its own (npm run worker) reads the same
// settings as npm start. Variables already set in the environment win, as with --env-file.
import { existsSync } from "node:fs";
import process from "node:process";

const file = new URL("../../.env", import.meta.url);
if (existsSync(file)) process.loadEnvFile(file);
