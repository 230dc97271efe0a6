-- up
ALTER TABLE `posts` MODIFY COLUMN `title` varchar(100) NOT NULL;
-- down
ALTER TABLE `posts` MODIFY COLUMN `title` varchar(200) NOT NULL;
