-- up
ALTER TABLE "posts" RENAME TO "articles";
-- down
ALTER TABLE "articles" RENAME TO "posts";
