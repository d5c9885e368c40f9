-- A user's profile (display name, e-mail, time zone) and a frontend's
-- preferences for them, each a JSON object.
ALTER TABLE users ADD COLUMN profile TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN preferences TEXT NOT NULL DEFAULT '{}';
