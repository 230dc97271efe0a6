-- up
CREATE INDEX `posts_author_created_at_idx` ON `posts` (`author`, `created_at`) ALGORITHM=INPLACE LOCK=NONE;
-- down
DROP INDEX `posts_author_created_at_idx` ON `posts`;
