-- up
ALTER TABLE `posts` MODIFY COLUMN `views` bigint NULL DEFAULT 0;
-- down
ALTER TABLE `posts` MODIFY COLUMN `views` int NULL DEFAULT 0;
