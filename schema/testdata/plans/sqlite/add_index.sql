-- up
CREATE INDEX "posts_author_created_at_idx" ON "posts" ("author", "created_at");
-- down
DROP INDEX "posts_author_created_at_idx";
