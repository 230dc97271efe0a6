-- up
DROP INDEX "posts_status_created_at_idx";
-- down
CREATE INDEX "posts_status_created_at_idx" ON "posts" ("status", "created_at");
